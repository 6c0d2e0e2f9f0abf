"""Trace context for requests, shared by storage and cdc.

A request that carries a W3C ``traceparent`` header is served inside a span of
that trace: every log line written while it runs carries ``trace_id`` and
``span_id`` (the JSON formatter adds them), so one trace leads from the
pipeline run that deployed a pod to the requests it served. When
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard ``OTEL_EXPORTER_OTLP_*``
variables), the spans and the log records also go over OTLP with the
OpenTelemetry SDK, from background threads with the exporter's own timeout,
so a slow or absent collector never slows a request. ``http/protobuf`` is
built in; ``grpc`` needs ``opentelemetry-exporter-otlp-proto-grpc`` installed.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger("mlops_storage.tracing")

_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?"
)


@dataclass
class Request:
    """A request's span: its ids; the SDK's span and context token when exporting."""

    trace_id: str
    span_id: str
    parent_id: str
    token: contextvars.Token[Request | None] | None = None
    otel_span: Any = None
    otel_token: Any = None


_current: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "mlops_request_trace", default=None
)
_tracer: Any = None
#: The exporter package of each OTLP protocol (gRPC's is not installed by default).
_EXPORTERS = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http",
}


def parse(value: str | None) -> tuple[str, str] | None:
    """``(trace_id, parent_span_id)`` of a ``traceparent``; None unless valid W3C."""
    match = _TRACEPARENT.fullmatch((value or "").strip())
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, parent_id


def fields() -> dict[str, str]:
    """The current request's ``trace_id`` and ``span_id`` (empty outside one)."""
    req = _current.get()
    return {"trace_id": req.trace_id, "span_id": req.span_id} if req else {}


def start_request(name: str, traceparent: str | None) -> Request | None:
    """Enter a request's span when it carries a valid ``traceparent``; else None."""
    parent = parse(traceparent)
    if parent is None:
        return None
    trace_id, parent_id = parent
    req = Request(trace_id, secrets.token_hex(8), parent_id)
    if _tracer is not None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )

        extracted = TraceContextTextMapPropagator().extract(
            {"traceparent": traceparent or ""}
        )
        span = _tracer.start_span(name, context=extracted, kind=trace.SpanKind.SERVER)
        req.span_id = format(span.get_span_context().span_id, "016x")
        req.otel_span = span
        req.otel_token = context.attach(trace.set_span_in_context(span))
    req.token = _current.set(req)
    return req


def end_request(req: Request | None, status: int) -> None:
    """Leave the request's span, recording its HTTP status."""
    if req is None:
        return
    if req.otel_span is not None:
        from opentelemetry import context

        req.otel_span.set_attribute("http.response.status_code", status)
        req.otel_span.end()
        context.detach(req.otel_token)
    if req.token is not None:
        _current.reset(req.token)


class _NotOurs(logging.Filter):
    """Keeps the SDK's own complaints out of the export (a feedback loop otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("opentelemetry")


def configure_export(default_service: str = "mlops") -> bool:
    """Export spans and logs over OTLP when an endpoint is set; whether it is on."""
    global _tracer
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not endpoint or _tracer is not None:
        return _tracer is not None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    try:
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        package = _EXPORTERS.get(protocol)
        if package is None:
            LOG.warning(
                "OTLP export is off: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported "
                "(set grpc or http/protobuf)",
                protocol,
            )
            return False
        spans = importlib.import_module(f"{package}.trace_exporter").OTLPSpanExporter
        logs = importlib.import_module(f"{package}._log_exporter").OTLPLogExporter
    except ImportError as exc:
        LOG.warning("OTLP export is off: %s (install the OpenTelemetry exporter)", exc)
        return False
    # Resource.create adds OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES when set.
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or default_service}
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans()))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs()))
    handler = LoggingHandler(level=logging.NOTSET, logger_provider=logger_provider)
    handler.addFilter(_NotOurs())
    logging.getLogger().addHandler(handler)
    _tracer = tracer_provider.get_tracer("mlops")
    # No endpoint in the line: a URL in the first lines reads as the service's own.
    LOG.info("exporting spans and logs over OTLP (%s)", protocol)
    return True
