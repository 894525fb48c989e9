"""Service layer: one function per use case, between the pure core and the API and CLI."""

from pausewatch.service._errors import RegistryConflictError
from pausewatch.service._governance import (
    clerk,
    due_decisions,
    pause_status,
    proposal_report,
    trigger_proposals,
)
from pausewatch.service._log_service import (
    SECRETARIAT_KEY_NAME,
    ClerkStats,
    LogInfo,
    LogService,
    MalformedJSONError,
    decode_statement,
    entry_to_json,
    utc_now,
)
from pausewatch.service._notices import (
    NOTICE_KIND,
    NoticeLimits,
    NoticeQuota,
    NoticeQuotaError,
    NoticeTooLargeError,
)
from pausewatch.service._telemetry import (
    BatchReceipt,
    TelemetryIngest,
    Upload,
    iter_stored_records,
    stored_records,
)
from pausewatch.service._transcripts import (
    AuditOutcome,
    CommitReceipt,
    LocalTranscriptLog,
    TranscriptAuditError,
    TranscriptLog,
    audit_transcript,
    commit_transcript,
    inspector_with_key,
    transcript_report,
)
from pausewatch.service._views import (
    balance_report,
    chip_report,
    detection_evaluation,
    evaluation,
    run_report,
    view_page,
)
from pausewatch.service._witnessing import (
    WitnessDistributor,
    WitnessEndpoint,
    add_checkpoint_body,
    load_roster,
    parse_roster,
)
from pausewatch.state import RegistrySnapshot

__all__ = [
    "NOTICE_KIND",
    "SECRETARIAT_KEY_NAME",
    "AuditOutcome",
    "BatchReceipt",
    "ClerkStats",
    "CommitReceipt",
    "LocalTranscriptLog",
    "LogInfo",
    "LogService",
    "MalformedJSONError",
    "NoticeLimits",
    "NoticeQuota",
    "NoticeQuotaError",
    "NoticeTooLargeError",
    "RegistryConflictError",
    "RegistrySnapshot",
    "TelemetryIngest",
    "TranscriptAuditError",
    "TranscriptLog",
    "Upload",
    "WitnessDistributor",
    "WitnessEndpoint",
    "add_checkpoint_body",
    "audit_transcript",
    "balance_report",
    "chip_report",
    "clerk",
    "commit_transcript",
    "decode_statement",
    "detection_evaluation",
    "due_decisions",
    "entry_to_json",
    "evaluation",
    "inspector_with_key",
    "iter_stored_records",
    "load_roster",
    "parse_roster",
    "pause_status",
    "proposal_report",
    "run_report",
    "stored_records",
    "transcript_report",
    "trigger_proposals",
    "utc_now",
    "view_page",
]
