"""Views of the sharing app, by audience: accounts (everyone), requests, steward (stewards)."""
