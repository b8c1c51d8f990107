"""Secure health messaging (MSSanté): mailboxes, conversations, messages, the SMTP gateway."""
