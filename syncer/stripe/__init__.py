"""The Stripe boundary: the client, its rate limits, what is synced and how Stripe shapes objects."""
