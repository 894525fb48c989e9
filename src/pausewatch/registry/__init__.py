"""The registry: parties, operators, facilities, clusters, chip makers, chips, keys, declared runs
and positions on the moratorium, as statements on the log folded into views.

Public API::

    Registry(secretariat=frozenset({key}))     the pure fold; .apply(index, time, statement)
    Outcome, Change, VIEWS                     what one entry did; the views and their keys
    REGISTRY_KINDS                             the statement kinds it registers
    PartyRegister, OperatorRegister, ...       their body models
"""

from pausewatch.registry._effects import Effect, current_effect
from pausewatch.registry._fold import VIEWS, Change, Outcome, Registry, Row, View
from pausewatch.registry._kinds import (
    REGISTRY_KINDS,
    ChipCertify,
    ChipCustody,
    ChipMakerRegister,
    ChipTransfer,
    ClusterRegister,
    CustodyAction,
    EstimateMethod,
    FacilityRegister,
    KeyRevoke,
    KeyRotate,
    Location,
    OperatorRegister,
    PartyRegister,
    Position,
    RunChange,
    RunDeclaration,
    RunEnd,
    RunOutcome,
    RunStart,
    Stance,
    SubjectKind,
)

__all__ = [
    "REGISTRY_KINDS",
    "VIEWS",
    "Change",
    "ChipCertify",
    "ChipCustody",
    "ChipMakerRegister",
    "ChipTransfer",
    "ClusterRegister",
    "CustodyAction",
    "Effect",
    "EstimateMethod",
    "FacilityRegister",
    "KeyRevoke",
    "KeyRotate",
    "Location",
    "OperatorRegister",
    "Outcome",
    "PartyRegister",
    "Position",
    "Registry",
    "Row",
    "RunChange",
    "RunDeclaration",
    "RunEnd",
    "RunOutcome",
    "RunStart",
    "Stance",
    "SubjectKind",
    "View",
    "current_effect",
]
