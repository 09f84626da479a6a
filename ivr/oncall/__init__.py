"""On-call staff for emergencies: the rota, the escalation that rings them, other alert channels.

- :mod:`ivr.oncall.rota`: who is on call, their languages, phone and hours (audited changes).
- :mod:`ivr.oncall.store`: escalation state in the database (idempotent step records).
- :mod:`ivr.oncall.escalation`: the service the engine hands each emergency to.
- :mod:`ivr.oncall.phone`: one staff phone call over ARI (alert prompt, press 1).
- :mod:`ivr.oncall.email`, :mod:`ivr.oncall.webhook`, :mod:`ivr.oncall.messages`: other channels.
- :mod:`ivr.oncall.web`, :mod:`ivr.oncall.cli`: the admin page, the banner, `ivr oncall`.
"""
