"""The API's routes: public (rate-limited questions), staff (documents) and embeddings."""
