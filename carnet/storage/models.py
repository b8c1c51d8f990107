"""Every table of the platform, imported so that Alembic and ``create_all`` see one metadata."""

from carnet.access import store as _access_store  # noqa: F401
from carnet.audit import store as _audit_store  # noqa: F401
from carnet.catalogue import store as _catalogue_store  # noqa: F401
from carnet.directory import store as _directory_store  # noqa: F401
from carnet.identity import store as _identity_store  # noqa: F401
from carnet.messaging import store as _messaging_store  # noqa: F401
from carnet.notify import store as _notify_store  # noqa: F401
from carnet.record import store as _record_store  # noqa: F401
from carnet.sharing import store as _sharing_store  # noqa: F401
from carnet.space import agenda_store as _agenda_store  # noqa: F401
from carnet.space import profile_store as _profile_store  # noqa: F401
from carnet.space import store as _space_store  # noqa: F401
from carnet.storage.orm import Base

metadata = Base.metadata
