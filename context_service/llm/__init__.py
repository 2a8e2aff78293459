"""LLM verdicts: the openai client, tools, prompt, prices, cost ledger, rate limits, breaker.

Modules: ``client`` (the openai SDK, imported only when a client is built), ``tools``,
``prompt``, ``pricing``, ``ledger`` (reserve-then-settle), ``ratelimit``, ``breaker``,
``usage`` and ``provider`` (the LLM verdict provider). Import from them directly; this package
imports nothing itself, so a rules-only process never loads the SDK.
"""
