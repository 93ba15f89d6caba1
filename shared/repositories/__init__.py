"""The only modules that talk to MongoDB: one per collection, plus index creation."""
