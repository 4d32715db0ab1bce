"""Every table's model, imported once so Alembic and tests see the whole schema."""

from foundation.db import Base
from foundation.design_system.models import Story, StoryTag
from foundation.read_changes import ReadChange
from foundation.scaffolds.models import (
    EventIdempotencyRecord,
    IdempotencyRecord,
    ScaffoldEvent,
    ScaffoldRegistration,
)
from foundation.schema_compatibility import SchemaCompatibility
from foundation.success_metrics.models import ScSample, ScTarget
from foundation.tenancy.models import Tenant
from foundation.themes.models import ThemeVersion

metadata = Base.metadata

__all__ = [
    "EventIdempotencyRecord",
    "IdempotencyRecord",
    "ReadChange",
    "ScSample",
    "ScTarget",
    "ScaffoldEvent",
    "ScaffoldRegistration",
    "SchemaCompatibility",
    "Story",
    "StoryTag",
    "Tenant",
    "ThemeVersion",
    "metadata",
]
