"""Webhooks: POST each subscriber's events to its URL, signed the Standard Webhooks way.

One more reader of the log, through the actor's feed (consumers/views/feed.py and
consumers/queries/feed.py): a subscription keeps a feed cursor, advanced together with its
delivery records in one Redis script (`store`), so a crash re-sends only what was delivered
since the last save (at-least-once; receivers de-duplicate by webhook-id, the event id).
`schedule` decides retries and disabling (pure), `targets` which URLs and addresses are
allowed, `payload` what is sent, `attempt` one HTTP POST, `sender` the loop.
"""
