"""Authentication: bearer tokens from trusted OpenID Connect issuers, turned into the caller of a request."""

from carnet.auth.claims import Caller, caller_from_claims
from carnet.auth.tokens import TokenValidator, TrustedIssuer

__all__ = ["Caller", "TokenValidator", "TrustedIssuer", "caller_from_claims"]
