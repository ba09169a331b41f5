"""Multi-step behaviour over time: dialogs, stage, nurture, scheduled posts."""
