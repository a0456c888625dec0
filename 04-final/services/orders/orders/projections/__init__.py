"""Read models (CQRS, T16): tables built from events, in a store of their own."""
