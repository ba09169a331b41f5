"""mamabot runtime: app assembly, channels, dispatcher, outbox, scheduler loop, CLI."""
