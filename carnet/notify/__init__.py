"""Notifications to the holder: in the space and by e-mail through a transactional outbox."""
