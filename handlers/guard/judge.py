"""The verdict on one message: pass, warn or kick, with a score and readable reasons.

Layers (each switchable per group in content/guard.toml):
- contact solicitation and WeChat / QQ / phone numbers, on the folded text;
- links, with an allowlist of domains and a list of marketplaces (jd.com, m.tb.cn) whose
  links count only with other signs; 淘口令;
- blocked words and phrases, on jieba words and on the folded text;
- message types from non-admins (mini-program, card, link card) by group policy;
- a naive Bayes classifier trained from content/guard_examples.tsv and admin feedback.
History checks (flood, repeats, waves across groups, newcomers) need the key-value store
and come from the caller as `history` hits.

The score is the strongest layer's score; when two independent layers agree it rises a
little. `warn_at` and `kick_at` turn it into a verdict. A newcomer's first messages weigh
`newcomer_bonus` more, enough for a warning but never by itself for a kick: a new mother
who leaves her own phone number with a question is warned, not thrown out.

Budget: one message costs bounded work, whatever its length or content. Every pattern
here runs in time linear in the text it reads (they are audited against the worst inputs
in bench/guard_worst.py: no nested quantifiers, no unbounded run that can fail and be
retried from every position), and each stage reads a bounded part of the message:
- the rule layers (contacts, links, 淘口令) read its first RULES_SEE characters;
- the stages that segment words with jieba, which costs most per character (blocked
  words' word edges, the model), read its first WORDS_SEE characters; a blocked word
  further on is only a weak sign.
Ads show themselves early, every row of the corpus is far shorter than either bound, and
the dispatcher keeps 4000 characters of a message by default. bench/guard_worst.py prints
the time per message for the worst inputs (tens of milliseconds at most).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import unicodedata
from collections import ChainMap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jieba

from bot.config import GuardRules
from bot.events import MessageType
from bot.text import tokenizer
from handlers.guard.classifier import HAM, SPAM, NaiveBayes
from handlers.guard.normalize import digits, fold

PASS, WARN, KICK = "pass", "warn", "kick"
MODEL_FROM = 0.95  # the model's probability from which it counts on its own
SELL_MODEL_FROM = 0.4  # ... and when it sells through the writer (内部价, 链接私我)
SOFT_MODEL_FROM = 0.6  # ... and from which it counts when the text also asks to be contacted
RULES_SEE = 4000  # characters of a message the rule layers read (see the budget above)
WORDS_SEE = 1000  # ... and the stages that segment words (blocked-word edges, the model)


@dataclass(frozen=True)
class Hit:
    score: float
    reason: str
    model: bool = False  # the statistical layer, as opposed to a rule
    kind: str = ""  # what it found: one of the kinds below, "" for history and the rest


# Hit kinds the verdict reasons about: a way to reach her (an id, a phone number), a call
# to get in touch (加我微信, 私我), a link or 淘口令 outside the allowlist, a blocked word,
# a message type, the model.
DETAIL, ASK, SELL, LINK = "detail", "ask", "sell", "link"
BLOCKED, TYPE, MODEL = "blocked", "type", "model"


@dataclass
class Verdict:
    verdict: str
    score: float
    reasons: list[str] = field(default_factory=list)
    # Members swapping contacts with no commercial sign: passed; a group that forbids it
    # (member_contact = "remind") gets a gentle reminder (not in the spam-check line).
    contact_exchange: bool = False

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "score": round(self.score, 3), "reasons": self.reasons}


# "加我微信" / "加我qq" / "私我" ... on folded text.
# Not "陌生人加我微信" (someone added her) nor "加我微信那个" (the one who added her).
_ASK_CONTACT = re.compile(
    r"(?<![人她他谁娘妈姐孩])(?:加|添加|联系|找|滴滴|戳|咨询)(?:我|一下我|本人)(?:的)?(?:微信|qq)"
    r"(?!那个|的人|的那)"
)
_CONTACT_ID = re.compile(
    r"(?:微信|qq|扣)(?:号|是|id|联系|加)?(?:是)?([a-z][a-z0-9_-]{3,19}|\d{5,11})"
    r"|(?:加|加我|联系|找)?微([a-z][a-z0-9_-]{3,19})"  # "微❤ party_mm" folds to 微partymm
    # "联系方式 Y🍎Y🍎0🍎7" folds to 联系方式yy07: an id after it starts with a letter (a
    # hotline's digits after it are no one's WeChat).
    r"|联系方式(?:是|为)?([a-z][a-z0-9_-]{3,19})"
)
# An id sent in pieces to get past a filter: "微信前面是lucky后面是mama", "后四位8891",
# "去掉空格", "分开发防屏蔽". Bounded gap: linear.
_SPLIT_ID = re.compile(
    r"(?:微信|qq|号码|电话|手机)(?:号)?[^。！!]{0,16}?(?:前面是|后面是|前半|后半|前几位|后几位|后四位|前四位"
    r"|去掉空格|去掉中间|分开发|防屏蔽|防和谐|拼起来|连起来|连在一起)"
)
# "加vx领小样", "加V详聊", "加我领": adding an account to get something is an ad's move.
# Not when someone else says so ("医生让我加微信", "老师说要加微信", "我加微信问问").
_ADD_FOR = re.compile(
    r"加我(?:领|送|拿|免费)"
    r"|(?<![我你她他要让叫说么样能会])加微信(?:领|拿|送|免费|详|咨询|了解|备注|进群|下单|预约)"
)
# "收旧衣服 加V": the imperative at the very end (on the unfolded text), not "老师说要加微信".
_ADD_AT_END = re.compile(
    r"(?<![我你她他要让叫说么样能会])(?:加|➕|\+)\s*(?:v|vx|wx|微信|薇|威信)[\s❤️💕✨~～]*$"
)
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# A bare host starts only where a run of host characters starts (not after "." or "-"),
# so each run is scanned once: "a." * 2000 took 0.9 s when every "a" was a start. A
# Chinese character before it ends no run: "在官网nuannuan-baby.com买的" has a host.
# A link ends where the words go on: at a space, a comma or a Chinese character or
# punctuation mark ("nuannuan-baby.com/p/88，29.9一大包" after NFKC, which makes "，" a ","),
# so the words after it are not taken out with it.
_URL = re.compile(
    r"(?:https?://|www\.)[^\s,，。\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+"
    r"|(?<![@a-z0-9_.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\."
    r"(?:com|cn|net|top|xyz|vip|cc|club|shop|site|ink|link|me|io|co|info)"
    r"(?:/[^\s,，。\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*)?",
    re.IGNORECASE,
)
_TAOKOULING = re.compile(r"[¥￥$€₤₳¢¤฿₵₡₫(（][a-zA-Z0-9]{8,14}[¥￥$€₤₳¢¤฿₵₡₫)）]")
_REPORT = re.compile(
    r"(?<!不是)(?<!怕是)骗|是不是骗|不靠谱|(?<!识)别加|别点|别扫|别转|千万别|已经踢|踢了|拉黑了|靠谱吗|是真的吗"
    r"|真的假的|不对劲|觉得不对|大家小心|小心上当|小心被|别信|举报|防骗|能信吗|可信吗|正规吗"
    r"|是套路|都是套路|套路贷|就删了|直接删了|没敢"
)
# "V我" (slang: get in touch on WeChat), on the text before folding: folded, "加她微信，我…"
# would read the same.
_V_ME = re.compile(r"(?<![a-z])v[\s❤️💕✨]*我(?!们|\s*[\d一二三四五六七八九十百两])")  # not "V我50"
# A call to the readers to get in touch ("有需要的私我", "滴滴我", "看头像", "扫码预约"):
# ordinary among friends, so alone it is never enough; with a model that leans towards an
# ad (SOFT_MODEL_FROM) it is a warning.
_SOFT_ASK = re.compile(
    r"私我|私聊我|私信我|私聊$|私信$|(?<![隐自公])私$|(?<![打叫坐约用个])滴滴$|滴滴我|戳我|(?<!别)(?<!不要)找我|问我|(?<!不用)(?<!别)(?<!不要)加我|联系我|看头像"
    r"|看我朋友圈|扫码(?:预约|下单|进群|领|开户|上传|看|添加|报名|投保|关注)|进群扫码|长按|识别图中"
    r"|私(?:聊|信)(?:看|拿|领|报价|下单|了解|详谈|咨询)|扫我头|报名$|欢迎来聊|我拉你"
    r"|(?:需要|想要|想了解|有兴趣|想做|想玩|感兴趣|有要)的(?:宝妈|姐妹|妈妈)?(?:说|私|找|加|扫|来|戳|滴)"
)


_SOFT_REASON = "引导私聊"
# Selling through herself: a story that ends in a price or a channel only she has.
_SELL_VIA_ME = re.compile(
    r"我(?:这|这里|这边|现在)?有(?:内部|厂家|工厂|正品)?(?:渠道|货)|拿货价|代理价"
    r"|(?:拿|给你们?|帮你们?拿)(?:内部价|团购价)|链接私我|私我(?:发链接|拿|报价|给你们?打折)"
    r"|找我拿|扣1(?:我)?发你|(?:可以|能)给(?:大家|你们)(?:便宜|优惠|打折)|给你们拿"
    r"|我(?:这|这边)?(?:还)?能(?:找她|帮你们?)?代购"
    # A testimonial that ends in an offer: "我囤了好几箱，可以匀给你们".
    r"|(?:匀|分|出)(?:几[瓶盒罐箱袋包个]|一些|点)?给(?:你们|大家|群里|有需要|需要的|姐妹)"
    r"|分享给(?:有需要|需要)"
    # An agent's or a seller's self-introduction (我是做童装的, 保险规划师): with a price or a
    # product word (_SELF_INTRO_SELLS) it is an offer.
    r"|保险规划|持证代理|保单检视|(?:出|做)(?:个)?(?:保险)?方案|出厂价|成本价"
    r"|想要的?(?:说一声|扣1|留言)|我(?:这|这边)?(?:还)?有(?:现)?货|帮(?:你们|大家)(?:带|拿)"
)
# Offers with a known shape (issue 12), each a rule of its own on the folded text, found
# when every one of its patterns is: a giveaway behind following an account (0元领,
# 关注公众号回复…领取), paid liking and following tasks (点赞员, 一个赞八毛, 日结), an
# insurance agent offering her services; a group advertised to the whole group by its QR
# code with a lure (长按识别加入, 满200人发福利), a free assessment that ends in a course
# (免费测评, 测完送价值399元课程), returns promised on money left with someone (闲钱, 跟着老师,
# 保本, 每月收益), a postpartum-recovery shop's trial price (产后修复 体验价99). Below 0.6 a
# shape is a weak sign: it acts with a model that leans towards an ad, and not in a question.
_OFFER_SHAPES: tuple[tuple[tuple[re.Pattern[str], ...], float, str], ...] = (
    (
        (
            re.compile(
                r"关注(?:下方|我们的|我的)?(?:公众号|公主号|工众号|gzh|视频号|抖音号?)[^。！!]{0,24}?"
                r"(?:回复|领|送|免费|抽奖|0元|零元|包邮)"
                r"|(?:0元|零元|免费)(?:领|拿|购|送)[^。！!]{0,24}?(?:关注|公众号|公主号|gzh)"
                r"|搜(?:索)?[^。！!]{0,16}?(?:公众号|公主号|gzh)[^。！!]{0,24}?(?:回复|免费|0元|零元)"
                r"|(?:小程序|公众号|公主号)搜(?:索)?[^。！!]{0,16}?(?:免费|0元|零元)(?:领|拿|送)"
            ),
        ),
        0.7,
        "关注公众号领福利",
    ),
    (
        (
            re.compile(
                r"点赞员|点赞任务|点赞兼职|点赞收藏兼职"
                r"|(?:点赞|点个赞|刷赞|关注|评论|收藏)[^。！!]{0,24}?(?:日结|当天结|结算|每天结"
                r"|一单|[0-9一二两三四五六七八九十]+(?:毛|块|元)|赚)"
            ),
        ),
        0.7,
        "有偿点赞任务",
    ),
    (
        (
            re.compile(
                r"(?:我是|本人)(?:做|卖|干)保险|保险(?:规划师|代理人|经纪人)|持证代理"
                r"|(?:平安|太平洋|人寿|泰康|友邦|新华|太平|国寿)(?:保险)?(?:做|干)了"
            ),
        ),
        0.45,
        "保险代理推销",
    ),
    (
        (
            # 二维码 folds to 二微码 (维 -> 微).
            re.compile(
                r"(?:长按|扫码|扫描|扫一扫|识别)[^。！!]{0,12}?(?:进群|入群|加入|进来)"
                r"|(?:二微码|群码)进群|(?:二微码|群码)在(?:这|下面|下方|图)"
            ),
            re.compile(
                r"福利|红包|抽奖|免费|满[0-9]+人|人满|交友|互助群|福利群|宝妈群|妈妈群|每天(?:分享|发)"
                r"|进群(?:就|即)?(?:领|送|有|发|抢|抽)|送"
            ),
        ),
        0.7,
        "拉人进群（二维码）",
    ),
    (
        (
            re.compile(
                r"(?:免费|0元|零元|公益)[^。！!，,]{0,8}?(?:测评|评测|评估|测试|筛查|检测|测一测|测一下)"
            ),
            re.compile(
                r"(?:送|赠|领)[^。！!]{0,12}?(?:课|训练)|价值[0-9]+元?的?[^。！!]{0,8}?(?:课|训练)"
                r"|体验课|试听课"
            ),
        ),
        0.7,
        "免费测评送课",
    ),
    (
        (
            re.compile(
                r"闲钱|本金|跟着?(?:老师|导师|大师)(?:做|投|操作|买|学)|跟投|入金"
                r"|带(?:你|大家|你们|我们)(?:做|投|赚|理财)|放(?:在)?(?:这里|这个平台|平台上?|我这)"
                r"|投(?:了|入)?[0-9一二三四五六七八九十两几]+(?:万|千|百|块|元)"
            ),
            re.compile(
                r"(?<!不)保本(?![吗吧么嘛])|稳赚|稳定(?:收益|回报|分红)|高回报|回报率|年化|月化|日息|躺赚"
                r"|收益(?:率)?(?:[0-9]|百分)|收益比[^，。]{0,6}高|多赚|多出|多挣|翻倍"
                r"|(?:每|一)个?(?:月|天|周)(?:稳定)?(?:都有)?(?:收益|回报|利息|能赚|分红)"
            ),
        ),
        0.45,
        "许诺收益的投资",
    ),
    (
        (
            re.compile(r"产后(?:修复|恢复|塑形|瘦身)|盆底肌|腹直肌|骨盆(?:修复|矫正)|收胯"),
            re.compile(
                r"体验价|体验卡|首次(?:体验)?(?:只要|仅|[0-9])|(?:只要|仅需?|特价|活动价|原价)[0-9]+"
                r"|名额有限|到店|[0-9]+元?(?:一次|一节|体验)|(?:来|可以)试试我们"
            ),
        ),
        0.45,
        "产后修复推销",
    ),
    (
        # A loan (货款 is its homophone) with the loan ad's terms: scan the avatar's QR code
        # to apply, no husband's signature, no credit check, approved in seconds.
        (
            re.compile(r"贷|货款|借款|借钱|放款|下款|额度|征信|备用金|周转"),
            re.compile(
                r"扫(?:描|一下|一扫)?(?:我的?)?头像|头像(?:上的|里的|的)?(?:二微码|码)|(?:二微码|扫码)申请"
                r"|(?:不用|无需|不需要|不要|免)(?:老公|家人|配偶|丈夫)(?:签字|同意|知道)|不查征信|不看征信"
                r"|征信不好也|黑户|秒批|秒下|秒到|当天(?:放款|到账|下款)|凭身份证|有身份证就|低息|无抵押|免抵押"
            ),
        ),
        0.7,
        "贷款广告",
    ),
    (
        # A device or a course that fades stretch marks "in 3 sessions, or it is free",
        # booked by DM.
        (
            re.compile(r"妊娠纹|肥胖纹|生长纹|疤痕|色斑|黄褐斑|祛斑|祛纹|修复仪|美容仪|淡纹"),
            re.compile(
                r"不好不收钱|不满意不收|无效(?:退款|不收|全退)|(?:私信|私我|私聊|微信)预约|预约名额|名额有限"
                r"|上门服务|包(?:好|淡化|去除)|保证(?:淡化|去除)|[0-9一二两三四五]次(?:淡化|见效|祛除|去除|消失|就淡)(?!了)"
            ),
        ),
        0.7,
        "祛纹仪推销",
    ),
    (
        # A group poached to another "free of ads" ("不想被广告打扰的宝妈，来我们新群，纯交流，
        # 扫码进"): the promise, then the way in.
        (
            re.compile(
                r"(?:不想|不愿|讨厌)被?广告|无广告|没有广告|没广告|零广告|广告(?:太多|好多|多)|纯交流|纯聊天"
                r"|纯净|干净的群|不卖货|不发广告"
            ),
            re.compile(
                r"来我们(?:的)?(?:新)?群|进(?:我们|新)(?:的)?群|新群|扫(?:码|图|二微码|下面|图片)"
                r"|二微码|想进的|要进的|拉你们|我拉(?:大家|你们)|建了(?:个|一个)?(?:新)?群|私我进"
            ),
        ),
        0.7,
        "拉人进新群",
    ),
    (
        # A testimonial that sells: the miracle, then "这款我现在在做，私我拿".
        (
            re.compile(
                r"(?:这款|这个|它)[^，。]{0,8}我(?:现在|目前|也)?(?:在做|在卖|代理)"
                r"|我(?:现在|目前)?(?:也)?(?:在做|在卖|代理)(?:这款|这个|它)"
            ),
            re.compile(r"私我|私聊|私信|找我|拿货|扣1|滴滴|想要的|需要的|要的"),
        ),
        0.65,
        "见证式卖货",
    ),
    (
        # Any request for a verification code (验证码) in a group is a scam: fake after-sales
        # and refunds.
        (
            # Not what she was asked or says no to: 让我提供验证码, 千万别把验证码告诉别人.
            re.compile(
                r"(?<!让我)(?<!要我)(?<!叫我)(?<!让)(?<!别)(?<!不)(?<!没)(?<!不要)(?<!不能)(?<!不会)"
                r"(?:(?:提供|报|告诉)(?:一下)?(?:我|我们|客服)?|(?:发给?|给)(?:一下)?(?:我|我们|客服)"
                r"|(?:私我|私信我?|私聊我?)发)"
                r"(?:一下)?(?:您|你)?的?(?:手机号?码?|电话)?(?:和|跟|及|以及)?"
                r"(?:收到的)?(?:短信)?(?:验证码|校验码|动态码)"
                r"|(?:验证码|校验码|动态码)(?:发|告诉|报|给|私|截图)(?:一下)?(?:给)?(?:我|客服|过来)"
                r"|(?<!让我)(?<!要我)(?<!叫我)(?<!让)(?<!别)(?<!不要)(?<!不能)把(?:您|你)?的?(?:收到的)?(?:短信)?"
                r"(?:验证码|校验码|动态码)"
            ),
        ),
        0.85,
        "索要验证码",
    ),
    (
        # Refund phishing: a lost or broken parcel's compensation, then "支付宝搜索‘备用金’".
        (
            re.compile(r"理赔|赔付|赔偿|退款|丢件|丢失|破损|双倍|三倍"),
            re.compile(
                r"(?:支付宝|微信)[^。！!]{0,6}?搜|搜(?:索)?[^。！!]{0,6}?(?:备用金|借呗|花呗|额度)"
            ),
        ),
        0.85,
        "冒充客服理赔",
    ),
    (
        # Wholesale and a shop's clearance sold by DM or in the seller's group.
        (
            re.compile(
                r"批发|清仓|甩卖|关店|倒闭|尾货|库存处理|一件代发|[0-9一二三四五六七八九]折"
            ),
            re.compile(
                r"批发群|进(?:我们|咱们)的?(?:批发|福利|内购)?群|价目表|价格表|报价|私我|私聊|私信|找我|加我"
                r"|一件代发|拿货|看款|选款"
            ),
        ),
        0.7,
        "批发清仓推销",
    ),
)
# Scams a mother asks the group about in their own words: not acted on in a short question.
_ASKED_ABOUT = frozenset({"贷款广告", "索要验证码", "冒充客服理赔"})
# "我是做母婴用品的" / "我是卖纸尿裤的" / "自我介绍一下": a seller introducing herself,
# when the text also names a price or a way of buying (_COMMERCE).
_SELF_INTRO = re.compile(r"我是(?:做|卖|干|搞)[^，。！!,]{1,10}的|自我介绍|新人报到")
_SELL_REASON = "引导私下购买"
_FIRST_PERSON_ASK = re.compile(r"(?:加|联系|找|私|滴滴|戳)(?:我|一下我)|微信我")
_ASK_REASON = "招揽加微信/QQ"
_CONTACT_DETAILS = ("留微信号/QQ号", "手机号")
# She asks for something, gives it away for nothing, or thanks someone: not an offer.
_NOT_AN_OFFER = re.compile(
    r"谁家有|谁有多余|^谁有|借我|借一下|求借|我去你家拿|我去拿|我来拿|白送|送给有需要|免费送人|谁要就拿"
    r"|不要钱|帮你(?:取|拿|带|收|买|问)了"
    r"|免费[^，。]{0,12}自提|^.{0,3}(?:感谢|谢谢)"  # thanks to open, not "感谢支持" to close
)
# Her own outgrown or unused things given away for nothing ("穿小的鞋免费送，私我约时间来
# 拿"): not an offer, whoever she asks to message her. Not a recycler's "免费上门回收闲置".
_OWN_USED = re.compile(
    r"穿小|穿不下|小了|用不上|用不到|用不着|闲置|[0-9一二三四五六七八九]成新|用过|穿过|不穿了|不用了"
    r"|长大了|淘汰|不睡了|不坐了|坐不下|睡不下|不爱(?:用|坐|睡|玩)|不玩了"
)
_FOR_FREE = re.compile(r"免费|白送|送人|送给|不要钱|不收钱|拿去|直接送|送出去|^送(?!福利|红包|礼)")
# ... or sold cheaply ("安全座椅出了，坐不下了，100块", "闲置婴儿床 300块 自己来拉"): a
# second-hand word and a modest price or two, nothing of a shop's (清仓, 3折, 价目表, 批发),
# of an agent's (在做, 拿货) or of a job (在家, 日入).
_SECOND_HAND = re.compile(
    r"闲置|二手|[0-9一二三四五六七八九]成新|穿小|穿不下|坐不下|睡不下|用不上|用不到|用不着"
    r"|不用了|不穿了|不睡了|不坐了|不爱(?:用|坐|睡|玩)|长大了|(?<![卖清])出了|转让|自提|自取"
    r"|自己来(?:拉|拿|取|提)|上门(?:自提|来拉|来拿)"
)
_MODEST_PRICE = re.compile(
    r"(?<![0-9.])[0-9]{1,3}(?:块|元|r|出|包邮)|出[0-9]{1,3}(?![0-9])|[一二两三四五六七八九十百]{1,4}(?:块|元)"
)
_SHOP = re.compile(
    r"清仓|关店|甩卖|批发|价目表|价格表|报价|全场|[0-9一二三四五六七八九]折|厂家|货源|拿货|代理|在做"
    r"|微商|赚|兼职|多款|款式|尺码齐|一件代发|店里|本店|库存|时间|在家|日入|月入|收入|佣金|招"
)
SECOND_HAND_PRICES = 2  # more prices than this is a price list
_BUYS_BACK = re.compile(r"回收|收购|高价|上门收|收旧|收二手")
# Two members buying together: a joint order ("拼单", "凑单", "一起下单", "一人一半") with
# one named member (@小鱼妈妈) or between the two of them (咱俩, 分你一半). Not "@所有人".
_TOGETHER = re.compile(
    r"拼单|凑单|凑个单|凑满|一起(?:下单|买|拼|凑|团|囤)|拼着买|合买|分摊|一人一(?:半|个|件|箱|包|份|袋|罐|条)"
)
_TWO_OF_US = re.compile(r"咱俩|我俩|我们俩|咱们俩|跟你|和你|分你|给你一半|一人一半")
_MENTION = re.compile(r"(?<![a-z0-9._-])@(?!所有人|全体)[^\s@]", re.IGNORECASE)


def _not_an_offer(folded: str, plain: str) -> bool:
    """She asks, thanks, gives her own used things away or buys together with a friend
    (`plain`: the text before folding, where an @mention still shows)."""
    if _NOT_AN_OFFER.search(folded):
        return True
    if _OWN_USED.search(folded) and _FOR_FREE.search(folded) and not _BUYS_BACK.search(folded):
        return True
    if _second_hand_sale(folded):
        return True
    return bool(_TOGETHER.search(folded)) and bool(
        _TWO_OF_US.search(folded) or _MENTION.search(plain)
    )


def _second_hand_sale(folded: str) -> bool:
    """Her own used thing sold cheaply, not a shop's or a recycler's goods."""
    if not _SECOND_HAND.search(folded) or _SHOP.search(folded) or _BUYS_BACK.search(folded):
        return False
    return 1 <= len(_MODEST_PRICE.findall(folded)) <= SECOND_HAND_PRICES


QUESTION_MAX = 45  # a question to the group is short; an ad asking one goes on
# ... and an ad's question is a pitch ("想了解吗？", "有兴趣的吗", "想在家赚钱吗").
_PITCH = re.compile(r"(?:想了解|了解一下|有兴趣的?|感兴趣的?|赚钱|想做|心动|要不要|想不想)吗")
_ASKS_THE_GROUP = re.compile(r"^(?:有没有|谁|哪位|请问|求)")  # a question, not a pitch
_QUESTION_ENDS = frozenset("吗呢么嘛")
_QUESTION_MARKS = frozenset("?？")


def _is_question(text: str) -> bool:
    r"""Whether the text ends as a question: 吗 / 呢 / 么 / 嘛, or a question mark, followed
    by nothing but punctuation, spaces or emoji. A scan back from the end: the regex
    `(?:吗|[?？])[^\w]*$` retried the whole tail from every "?" ("?" * 8000 + "a": 0.45 s)."""
    end = len(text)
    while end > 0 and not _wordlike(text[end - 1]):
        if text[end - 1] in _QUESTION_MARKS:
            return True
        end -= 1
    return end > 0 and text[end - 1] in _QUESTION_ENDS


def _wordlike(char: str) -> bool:
    r"""A character of Python's regex \w, or a common CJK character."""
    return char.isalnum() or char == "_" or "\u4e00" <= char <= "\u9fff"


# Commercial signs on the folded text: a price, a product pitch, earnings, an agent's or a
# shop's words. A member asking another to add her with none of them is no ad (issue 12).
_COMMERCE = re.compile(
    r"[0-9]+(?:元|块|折|w|万)|价|优惠|包邮|秒杀|特价|折扣|福利|领取|免费领|0元|零元|白拿|返现|返利"
    r"|佣金|提成|赚|收入|兼职|日结|代理|加盟|招募|招聘|创业|货源|厂家|批发|拿货|囤货|正品|代购"
    r"|下单|购买|团购|链接|小样|试用|试吃|课程|工厂|出厂|成本价|原价|体验课|报名|保险|保障|理财|投资|贷款|额度|分期"
    r"|了解|详聊|咨询|要的|有需要|感兴趣|店铺|店里|商品|产品|品牌|进群|拉你|拉群"
    r"|朋友圈|公众号|关注|点赞|任务|推广|输赢|回收|收旧|收二手|想来的|想玩的|想加入|(?:微信|qq)(?:领|送|拿)"
)
# One member asking another to add her (加微信, 加个好友, 我加你, 互加): taken out before the
# model judges what is left. Calls to every reader (私我, 滴滴我, 扫码) are not this.
_EXCHANGE = re.compile(
    r"(?:互|相互|我)?(?:加|添加)(?:一下|个|下)?"
    r"(?:(?:我|你|她)(?:的)?(?:微信|好友|qq)?|微信|好友|qq)(?:吧|呀|哈|呗)?"
)


def _sells(folded: str) -> bool:
    """Selling through herself, or a seller introducing herself with a price or product."""
    return bool(
        _SELL_VIA_ME.search(folded) or (_SELF_INTRO.search(folded) and _COMMERCE.search(folded))
    )


def _weak_sell(hit: Hit) -> bool:
    """Selling through herself (引导私下购买, an agent's offer): acts with the model only."""
    return hit.kind == SELL and hit.score < 0.6


def _halved(hit: Hit) -> Hit:
    """A hit in a message that reports a scam: it quotes the scam's words."""
    return Hit(hit.score * 0.5, hit.reason, hit.model, hit.kind)


def _commercial(folded: str) -> bool:
    return bool(
        _COMMERCE.search(folded)
        or _PITCH.search(folded)
        or _SELL_VIA_ME.search(folded)
        or _ADD_FOR.search(folded)
    )


CONTACT_EXCHANGE = "群友互加（无推销迹象）"
# Mothers meeting up: what a member's own id comes with when nothing is sold; neighbours
# (小区, 楼下, 离得好近) walking their babies.
_MEET_UP = re.compile(
    r"一起(?:去|带|遛|溜|玩|逛|晒|拼|约|吃|学)|遛娃|溜娃|带娃出去|约(?:着|一下|个时间|起来)|见面|碰头"
    r"|同(?:一个)?小区|住(?:在)?[^，。]{0,6}(?:的妈妈|附近)|拼车|组队"
    r"|小区|楼下|邻居|散步|推车|晒太阳|晒娃|离得?(?:好|很|挺|这么)?近|同一?个?(?:区|街道|片区)"
    # ... in the same building (我们楼, 3栋, 同一个单元), or mothers of the same hospital
    # (同一个医院生的, 都在妇幼建档) swapping check-up experience.
    r"|(?:我们|咱们|你们)(?:这)?(?:栋|幢|楼|单元)|同一?个?(?:栋|幢|楼|单元)"
    r"|[0-9一二三四五六七八九十]+(?:栋|幢|号楼|单元)|住[^，。]{0,6}(?:栋|幢|楼|单元)"
    r"|同一?(?:个|家)?(?:医院|病房|产科)|(?:都在|都是|也在|也是|一起)[^，。]{0,8}(?:建档|生的|住院|产检)"
)
# ... and one neighbour pulling another into their group ("加我好友我拉你进去"): to one
# member (拉你, not 拉你们), so with a meet-up it is no sign of selling.
_INVITE = re.compile(
    r"我?拉你(?!们)(?:进|入)?(?:群|来|去|进来|进去)?"
    r"|进?(?:我们|咱们)?的?(?:小区|楼|栋|单元|[0-9]+(?:号楼|栋))?的?(?:宝妈|妈妈|业主|邻居)?群"
)
REST_MODEL_BELOW = 0.7  # what is left of an ask reads as an ad from here
# ... and among neighbours or mothers of one hospital, whose group invitation is all that
# is left ("我们楼的宝妈群你要进吗"): a few words the model reads as a group ad.
MEET_UP_REST_MODEL_BELOW = 0.9


# Recruiting or a shop's pitch through a link: earnings, agents, commissions, a whole
# shop on sale, a flash sale's urgency ("点开领券 全场5折", "限时秒杀 手慢无"). A mother's
# 京东自营 link with "领券后89" is neither.
_RECRUIT = re.compile(
    r"兼职|招募|招聘|代理|加盟|佣金|提成|返利|返现|赚|日结|分销|团长|推广|副业|创业|躺着"
    r"|全场|点(?:开|击|进)?(?:链接)?领|(?:内部|隐藏|大额|独家)(?:券|优惠)|[0-9一二三四五六七八九]折(?!后)"
    r"|秒杀|限时|抢购|手慢无|速抢|低至|复制(?:链接|口令|整段|这段)"
)


def _with_market_link(hits: list[Hit], folded: str) -> bool:
    """Whether a marketplace link counts: with a way to reach her or a call to add her,
    selling through herself, a blocked word, the model reading an ad, a pitch or
    recruitment. A mother's own recommendation ("京东自营，链接给你们") has none of them."""
    if _RECRUIT.search(folded) or _PITCH.search(folded):
        return True
    return any(
        h.kind in (DETAIL, SELL, MODEL)
        or (h.kind == ASK and h.score >= 0.6)
        or (h.kind == BLOCKED and h.score > WEAK)
        for h in hits
    )


def _in_words(text: str, match: re.Match[str]) -> bool:
    """A bare host written against a Chinese word ("在jd.com上买的"): how mothers name a shop,
    not counted as a link against her (an allowed one is still taken out of what the model
    reads)."""
    start = match.start()
    return (
        start > 0
        and not match.group(0).lower().startswith(("http", "www."))
        and ("\u4e00" <= text[start - 1] <= "\u9fff")
    )


def _host(link: str) -> str:
    return re.sub(r"^https?://", "", link.lower()).split("/")[0].removeprefix("www.")


def _allowed(host: str, allowed: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allowed)


# Numbers that reach nobody (issue 12): a phone number written masked (139****2231, as 接龙
# lists and parcel labels show it), an order or waybill number after its name (订单号 and
# 12-20 digits: longer than any phone or QQ number), and a list's numbering (接龙 "3." or
# "7、" at the start of an item; not "3.5元"). Each pattern is linear: bounded runs only.
_MASKED_PHONE = re.compile(r"(?<![0-9])1[3-9][0-9]{1,7} ?[*xX×]{2,8} ?[0-9]{0,8}(?![0-9])")
_ORDER_NUMBER = re.compile(
    r"((?:订单|运单|快递|物流|单)(?:编号|号码|号)?(?:是|为)?[ :：]{0,3})"
    r"[a-zA-Z]{0,4}[0-9][0-9 -]{8,28}[0-9](?![0-9])"
)
_LIST_NUMBER = re.compile(r"(?:^|(?<=[\s，,。；;]))[0-9]{1,3} ?[.、)](?![0-9])")
# Circled and keycap digits (①, ❶, 1️⃣) number a list too; NFKC would make them digits.
_LIST_MARK = re.compile("[\u2460-\u2473\u2776-\u277f]|[0-9]\ufe0f?\u20e3")


# A 接龙 entry: a short line that starts with its number (3. / 7、 / ② / 1️⃣ / 5） / 8：),
# after 接龙 / #接龙 / 【接龙】 if it likes; or 接龙+1.
LIST_ENTRY_MAX = 60
_LIST_START = re.compile(
    r"\s*(?:[#＃【\[]?接龙[】\]]?[\s:：]*)?"
    r"(?:[0-9０-９]{1,3} ?[.、)）:：．](?![0-9０-９])|[\u2460-\u2473\u2776-\u277f]"
    r"|[0-9]\ufe0f?\u20e3|(?<=龙)\s*\+\s*1)"
)
LIST_HEAD_MAX = 4  # lines above the entries: #接龙, its title, an example
# Who an entry is, when the list does not say 接龙: a mother, a flat, a masked number.
_LIST_PERSON = re.compile(r"妈|爸|宝|姐|奶|婆|我|楼|栋|室|\*\*")


def _is_list_entry(text: str) -> bool:
    """One 接龙 line, or the whole list as members re-post it (its head, then numbered
    entries only, two at least; a list that does not say 接龙 names a mother on each)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1:
        return len(lines[0]) <= LIST_ENTRY_MAX and bool(_LIST_START.match(lines[0]))
    first = next((i for i, line in enumerate(lines) if _LIST_START.match(line)), len(lines))
    entries = lines[first:]
    if first > LIST_HEAD_MAX or len(entries) < 2:
        return False
    if any(len(line) > LIST_ENTRY_MAX or not _LIST_START.match(line) for line in entries):
        return False
    return "接龙" in text or all(_LIST_PERSON.search(line) for line in entries)


def _only_allowed_links(text: str, allowed: list[str]) -> bool:
    """Whether the text has links and every one goes to an allowed domain."""
    links = _URL.findall(unicodedata.normalize("NFKC", text))
    return bool(links) and all(_allowed(_host(link), allowed) for link in links)


def not_contacts(plain: str) -> str:
    """The NFKC text without masked phone numbers, order numbers and list numbering."""
    plain = _MASKED_PHONE.sub(" ", plain)
    plain = _ORDER_NUMBER.sub(r"\1 ", plain)
    return _LIST_NUMBER.sub(" ", plain)


def model_view(text: str, allowed: list[str]) -> str:
    """What the model reads: the text without links to the allowed domains (the brand's
    shop, its articles: the model scored the address itself and called them ads) and
    without the numbers that reach nobody (not_contacts)."""
    plain = unicodedata.normalize("NFKC", _LIST_MARK.sub(" ", text))
    plain = _URL.sub(lambda m: " " if _allowed(_host(m.group(0)), allowed) else m.group(0), plain)
    return not_contacts(plain)


class Judge:
    def __init__(self, model: NaiveBayes | None = None, *, shared: bool = False) -> None:
        self.model = model or NaiveBayes()
        self._shared = shared  # the model is also used by others: copy before learning

    def learn(self, text: str, label: str) -> None:
        """Admin feedback (#垃圾 / #正常). A shared model is copied first, once."""
        if self._shared:
            self.model = copy.deepcopy(self.model)
            self._shared = False
        self.model.learn(text, label)

    def replace_model(self, model: NaiveBayes) -> None:
        """Judge with another trained model from now on (shared: copied before learning)."""
        self.model = model
        self._shared = True

    @classmethod
    def for_content(cls, content_dir: Path) -> Judge:
        """The judge trained on content/guard_examples.tsv, shared while the file is
        unchanged (training takes a fraction of a second; apps in tests are many)."""
        path = content_dir / "guard_examples.tsv"
        data = path.read_bytes() if path.exists() else b""
        return _trained(hashlib.sha1(data).hexdigest(), str(path))

    @classmethod
    def from_examples(cls, path: Path, extra: Iterable[tuple[str, str]] = ()) -> Judge:
        model = NaiveBayes()
        if path.exists():
            model.fit(read_examples(path))
        model.fit(extra)
        return cls(model)

    def judge(
        self,
        text: str,
        rules: GuardRules,
        *,
        type: MessageType = MessageType.TEXT,
        history: Iterable[Hit] = (),
        newcomer: bool = False,
        established: bool = False,
    ) -> Verdict:
        """The verdict on a message. `newcomer`: one of her first messages since she
        joined; `established`: she has been in the group long enough (GuardRules
        established_days / established_messages) to be warned before any kick, unless the
        text is an unmistakable commercial ad with a contact or a link."""
        hits = [*self.layers(text, rules, type), *history]
        hits = [h for h in hits if h.score > 0]
        if not hits:
            return Verdict(PASS, 0.0, [])
        if type is MessageType.TEXT and self._contact_exchange(text, hits, rules):
            # Two members swapping contacts (好的，加微信; 加个好友一起遛娃): never acted on.
            return Verdict(PASS, 0.0, [CONTACT_EXCHANGE], contact_exchange=True)
        hits.sort(key=lambda h: -h.score)
        score = hits[0].score
        rules_hit = [h for h in hits if not h.model and h.score >= 0.5]
        model_hit = any(h.model for h in hits)
        # Independent layers agree: two rules, or the model with a strong rule. The model
        # and a weak rule (a link, say) together stay a warning.
        if len(rules_hit) >= 2 or (model_hit and any(h.score >= 0.8 for h in rules_hit)):
            score = min(1.0, score + 0.1)
        verdict = KICK if score >= rules.kick_at else WARN if score >= rules.warn_at else PASS
        if newcomer and rules.newcomer_bonus and score >= 0.5:  # real evidence, made stronger
            score = min(1.0, score + rules.newcomer_bonus)
            # ... up to a warning: her own phone number with a question is no reason to
            # throw a new mother out. A kick needs the evidence itself to reach kick_at.
            if verdict == PASS and score >= rules.warn_at:
                verdict = WARN
        if verdict == KICK and type is MessageType.TEXT and self._only_her_contact(text, hits):
            verdict = WARN  # her id for a playdate, nothing sold: a warning, never a kick
        if established and verdict == KICK and not self._unmistakable(text, hits):
            verdict = WARN  # she has been here a while: a warning first
        return Verdict(verdict, score, [h.reason for h in hits])

    def _contact_exchange(self, text: str, hits: list[Hit], rules: GuardRules) -> bool:
        """Whether all the message does is ask to get in touch, with no commercial sign:
        no product or price words, no id, number, link or blocked word, no pitch, and
        nothing the model calls an ad once the ask itself is taken out."""
        if not any(h.kind == ASK for h in hits):
            return False
        if any(h.kind not in (ASK, MODEL) for h in hits):
            return False
        folded = fold(text[:RULES_SEE])
        below = REST_MODEL_BELOW
        if _MEET_UP.search(folded):
            folded = _INVITE.sub(" ", folded)  # a neighbour's invitation to her group
            below = MEET_UP_REST_MODEL_BELOW
        if _commercial(folded) or not _EXCHANGE.search(folded):
            return False
        rest = _EXCHANGE.sub(" ", folded)
        if _SOFT_ASK.search(rest) or _ASK_CONTACT.search(rest):
            return False  # a call to every reader (私我, 滴滴我, 看头像) besides the add
        if not rules.classifier or not self.model.trained or not rest.strip():
            return True
        return self.model.spam_probability(rest[:WORDS_SEE]) < below

    @staticmethod
    def _only_her_contact(text: str, hits: list[Hit]) -> bool:
        """Whether the evidence is only a way to reach her (an id, a number, an ask to add
        her), with no commercial sign and no model that reads an ad: a mother giving
        another her WeChat to meet up. Kicking her for it is the worst mistake; spammers'
        ids come with something to sell."""
        if any(h.kind not in (DETAIL, ASK) and not (h.model and h.score < 0.6) for h in hits):
            return False
        folded = fold(text[:RULES_SEE])
        return bool(_MEET_UP.search(folded)) and not _commercial(folded)

    def _unmistakable(self, text: str, hits: list[Hit]) -> bool:
        """A commercial ad with a way to reach the writer (an id, a number, a call to add
        her) or a link: what is kicked even from a member who has been here a while. Help
        requests (砍一刀 with a pinduoduo link) and a link the model alone dislikes are not."""
        reach = any(h.kind in (DETAIL, ASK, LINK) and h.score >= 0.6 for h in hits)
        if not reach:
            return False
        if any(h.kind == BLOCKED and h.score >= 0.8 for h in hits):
            return True
        ad = any(h.kind == MODEL and h.score >= 0.6 for h in hits)
        return ad and _commercial(fold(text[:RULES_SEE]))

    def layers(self, text: str, rules: GuardRules, type: MessageType) -> list[Hit]:
        hits: list[Hit] = []
        policy = rules.types.get(type.value, "allow")
        if type is not MessageType.TEXT and policy != "allow":
            name = {"mini_program": "小程序", "card": "名片", "link": "链接卡片"}.get(
                type.value, type.value
            )
            hits.append(Hit(0.95 if policy == "kick" else 0.7, f"非管理员发{name}", kind=TYPE))
        if type is not MessageType.TEXT and type is not MessageType.LINK:
            return hits
        text = text[:RULES_SEE]  # the budget (module docstring)
        folded = fold(text)
        if rules.contacts:
            # Without the links: "mp.weixin.qq.com" is an address, not a QQ number.
            bare = not_contacts(_URL.sub(" ", unicodedata.normalize("NFKC", text)))
            hits += self._contacts(fold(bare), digits(bare), bare.casefold())
        market = ""  # a marketplace link's host (jd.com, m.tb.cn): counted only with others
        if rules.links:
            found, market = self._links(text, rules.allowed_domains, rules.marketplace_domains)
            hits += found
        # A mother asking about or warning of a scam quotes its words ("拉我做兼职说日赚两百，
        # 靠谱吗", "卖家让我加微信详聊，靠谱吗"): with no contact number of her own, such
        # words, the ask she quotes and the model count less.
        details = any(h.reason in _CONTACT_DETAILS for h in hits)
        reporting = bool(_REPORT.search(folded)) and not details
        if reporting and not _FIRST_PERSON_ASK.search(folded):  # 加我微信 is her own ask
            hits = [_halved(h) if h.reason == _ASK_REASON else h for h in hits]
        short_question = _is_question(text) and len(folded) <= QUESTION_MAX
        for patterns, score, reason in _OFFER_SHAPES:
            if all(p.search(folded[:WORDS_SEE]) for p in patterns):
                if score < 0.6 and _is_question(text):
                    continue  # a weak sign in a question: she asks about it
                if reason in _ASKED_ABOUT and short_question:
                    continue  # "贷款要老公签字吗？", "银行要提供验证码吗？"
                hit = Hit(score, reason, kind=SELL)
                hits.append(_halved(hit) if reporting else hit)
        if rules.blocked_words:
            blocked = self._blocked(text, folded, rules.blocked_words)
            hits += [_halved(h) for h in blocked] if reporting else blocked
        if rules.classifier and self.model.trained and folded:
            # The model reads what could be an ad's: not the links the group allows, masked
            # numbers, order numbers nor a list's numbering (model_view).
            unread = [*rules.allowed_domains, *rules.marketplace_domains]
            p = self.model.spam_probability(model_view(text[:WORDS_SEE], unread))
            # A question to the group ("儿童保险一年几百块，能报门诊吗") is how mothers talk
            # about products; the model alone does not act on it.
            strong = any(h.score >= 0.8 for h in hits)
            offer = not _not_an_offer(folded, text) or strong
            asking = (
                _is_question(text)
                and len(folded) <= QUESTION_MAX
                and not strong
                and (_ASKS_THE_GROUP.match(folded) or not _PITCH.search(folded))
            )
            # A 接龙 line (numbered: who, which flat, how many, paid) and a mother passing on
            # the brand's own offer (every link to an allowed domain) are the group's own
            # business: the model alone does not act on them either.
            listed = _is_list_entry(text) and not _URL.search(text)
            own_offer = _only_allowed_links(text, rules.allowed_domains)
            if reporting or not offer or asking or ((listed or own_offer) and not strong):
                p = min(p, 0.9)
            if p >= MODEL_FROM:
                # The model alone can warn but never kick: a kick needs a rule to agree.
                score = 0.6 + 0.25 * (p - MODEL_FROM) / (1 - MODEL_FROM)
                hits.append(Hit(score, f"像广告（模型 {p:.2f}）", model=True, kind=MODEL))
            elif reporting:
                pass  # a report quotes the ad's call to get in touch: not hers
            elif offer and p >= SOFT_MODEL_FROM and any(h.reason == _SOFT_REASON for h in hits):
                hits.append(Hit(0.65, f"像广告（引导私聊，模型 {p:.2f}）", model=True, kind=MODEL))
            elif offer and p >= SELL_MODEL_FROM and any(_weak_sell(h) for h in hits):
                hits.append(Hit(0.65, f"像广告（私下卖货，模型 {p:.2f}）", model=True, kind=MODEL))
        if market and _with_market_link(hits, folded):
            hits.append(Hit(0.6, f"外部链接 {market}", kind=LINK))
        return hits

    @staticmethod
    def _contacts(folded: str, numbered: str, plain: str) -> list[Hit]:
        hits = []
        if _has_contact_id(folded) or _has_contact_id(numbered) or _SPLIT_ID.search(folded):
            hits.append(Hit(0.95, "留微信号/QQ号", kind=DETAIL))
        elif (
            _ASK_CONTACT.search(folded)
            or _ADD_FOR.search(folded)
            or _V_ME.search(plain)
            or _ADD_AT_END.search(plain)
        ):
            hits.append(Hit(0.85, _ASK_REASON, kind=ASK))
        elif _sells(folded) and not _not_an_offer(folded, plain) and not _is_question(plain):
            hits.append(Hit(0.45, _SELL_REASON, kind=SELL))
        elif _SOFT_ASK.search(folded):
            hits.append(Hit(0.45, _SOFT_REASON, kind=ASK))
        if _PHONE.search(numbered):
            hits.append(Hit(0.8, "手机号", kind=DETAIL))
        return hits

    @staticmethod
    def _links(text: str, allowed: list[str], markets: list[str]) -> tuple[list[Hit], str]:
        """The hits for links outside the allowlist and 淘口令, and the host of the first
        marketplace link (jd.com, m.tb.cn), which counts only with other signs."""
        plain = unicodedata.normalize("NFKC", text)
        hits = []
        market = ""
        for match in _URL.finditer(plain):
            host = _host(match.group(0))
            if _allowed(host, allowed) or _in_words(plain, match):
                continue
            if _allowed(host, markets):
                market = market or host
                continue
            hits.append(Hit(0.6, f"外部链接 {host}", kind=LINK))
            break
        if _TAOKOULING.search(plain):
            hits.append(Hit(0.75, "淘口令", kind=LINK))
        return hits, ("" if any(h.kind == LINK for h in hits) else market)

    @staticmethod
    def _blocked(text: str, folded: str, blocked: dict[str, float]) -> list[Hit]:
        """On the folded text, so "刷 单" and "刷❤单" count, and on jieba words. A word that
        does not start and end where the text's words do ("日入" in 生日入园, "带单" in
        带单车, "刷单" in 刷单词卡), or that she says no to ("不要刷单那种"), is only a weak
        sign (WEAK, below what agrees with another layer or draws the newcomer bonus), and
        so is one past the first WORDS_SEE characters, where no word edges are computed.
        One hit, the strongest word's: overlapping words ("帮我砍" in "帮我砍一刀") are one
        piece of evidence, not two layers agreeing."""
        keys = {word: w for word, score in blocked.items() if score > 0 and (w := fold(word))}
        candidates = [word for word, key in keys.items() if key in folded]
        if not candidates:
            return []
        edges = _word_edges(folded[:WORDS_SEE], frozenset(keys.values()))
        found = []
        for word in candidates:
            key = keys[word]
            score = min(WEAK, blocked[word])
            start = folded.find(key, 0, WORDS_SEE)
            while start >= 0:
                aligned = start in edges and start + len(key) in edges
                if aligned and not folded.endswith(_NEGATIONS, 0, start):
                    score = blocked[word]
                    break
                start = folded.find(key, start + 1, WORDS_SEE)
            found.append((score, word))
        found.sort(key=lambda f: -f[0])
        reason = "、".join(f"违禁词「{word}」" for _, word in found[:2])
        return [Hit(found[0][0], reason, kind=BLOCKED)]


WEAK = 0.45  # a sign that never acts alone, nor with another layer, nor for a newcomer
# Said just before a blocked word, they say no to it. (A regex ending in `$` searched in
# folded[:start] scanned the text from its start for each occurrence: quadratic.)
_NEGATIONS = ("不要", "不做", "不是", "别", "拒绝", "不搞", "不碰")
# A blocked word is a word of its own to jieba, as rare as an uncommon word: where the text
# has a common word across it (生日 in 生日入园, 单车 in 带单车) the common word wins.
_BLOCKED_WORD_FREQ = 100


@functools.lru_cache(maxsize=16)
def _blocked_tokenizer(words: frozenset[str]) -> jieba.Tokenizer:
    """jieba's dictionary with the blocked words added, for this set of words; the shared
    dictionary is not changed (keywords segment with it)."""
    base = tokenizer()
    overlay: dict[str, int] = {}
    for word in words:
        overlay[word] = max(_BLOCKED_WORD_FREQ, base.FREQ.get(word) or 0)
        for end in range(1, len(word)):
            overlay.setdefault(word[:end], base.FREQ.get(word[:end], 0))  # jieba needs prefixes
    tok = jieba.Tokenizer()
    tok.FREQ = ChainMap(overlay, base.FREQ)
    tok.total = base.total
    tok.initialized = True
    return tok


def _word_edges(folded: str, words: frozenset[str]) -> set[int]:
    edges: set[int] = set()
    for _word, start, end in _blocked_tokenizer(words).tokenize(folded, HMM=False):
        edges.add(start)
        edges.add(end)
    return edges


# After "微信 babycare", a shop or an account, not a person to add: 小程序, 公众号, 旗舰店...
_BRAND_AFTER = re.compile(r"小程序|公众号|官方|旗舰|店|商城|视频号|app|里|上|搜")


def _has_contact_id(folded: str) -> bool:
    """A WeChat / QQ id or number left in the text. A word of letters only followed by a
    shop or account word ("在微信 babycare 小程序买的") is a brand, not an id."""
    for match in _CONTACT_ID.finditer(folded):
        found = next((g for g in match.groups() if g), "")
        if found.isalpha() and _BRAND_AFTER.match(folded, match.end()):
            continue
        return True
    return False


_TRAINED: dict[str, Judge] = {}


def _trained(digest: str, path: str) -> Judge:
    """One model per distinct corpus content, whichever folder it was read from; the
    few most recent only (each edit of the corpus makes a new one)."""
    judge = _TRAINED.pop(digest, None)
    if judge is None:
        judge = Judge.from_examples(Path(path))
    _TRAINED[digest] = judge  # most recent last
    while len(_TRAINED) > 4:
        del _TRAINED[next(iter(_TRAINED))]
    return judge


def read_examples(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if label in (SPAM, HAM) and text.strip():
            rows.append((label, text))
    return rows
