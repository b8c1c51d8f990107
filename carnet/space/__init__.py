"""The holder's health space (ENS): lifecycle, health profile, agenda, reimbursements, representatives, export."""
