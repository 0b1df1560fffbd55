"""The audit moved to ``adapters.audit.report``; this name stays only for the modules that
still import it from here (``adapters/grpc/app.py``) and goes when they import it from there."""

from adapters.audit.report import PROGRESS_EVERY, AuditReport, Finding, Progress, audit

__all__ = ["PROGRESS_EVERY", "AuditReport", "Finding", "Progress", "audit"]
