"""Imports every domain's tables so that the metadata (and Alembic) sees them all."""

from console.store import Base
from console.alerts import models as alerts  # noqa: F401
from console.audit import models as audit  # noqa: F401
from console.devices import models as devices  # noqa: F401
from console.events import models as events  # noqa: F401
from console.people import models as people  # noqa: F401
from console.policies import models as policies  # noqa: F401
from console.schools import models as schools  # noqa: F401

metadata = Base.metadata
