"""Imports every domain's tables so that the metadata (and Alembic) sees them all."""

from console.store import Base
from console.alerts import models as alerts  # noqa: F401
from console.audit import models as audit  # noqa: F401
from console.cases import models as cases  # noqa: F401
from console.devices import models as devices  # noqa: F401
from console.escalation import models as escalation  # noqa: F401
from console.events import models as events  # noqa: F401
from console.incidents import models as incidents  # noqa: F401
from console.notify import models as notify  # noqa: F401
from console.people import models as people  # noqa: F401
from console.policies import models as policies  # noqa: F401
from console.records import models as records  # noqa: F401
from console.reports import models as reports  # noqa: F401
from console.schools import models as schools  # noqa: F401
from console.webfilter import models as webfilter  # noqa: F401

metadata = Base.metadata
