"""The shared record (DMP): clinical documents, their metadata, versions, visibility and search."""
