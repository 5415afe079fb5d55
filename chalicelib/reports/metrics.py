"""CloudWatch metrics of the contact records handler, in Embedded Metric Format.

powertools' `Metrics` prints one EMF JSON document per flush to standard output.
Lambda sends it to CloudWatch Logs, which turns it into metrics of the namespace
"Ventanilla". Calls are counted per agency and queue (dimensions `service`,
`agency` and `queue`) when a contact's first record is counted. The batch's
outcomes are counted with the `service` dimension only.

NOTE: a re-sent record that corrects the figures adds no metric, because a metric
cannot be taken back. The phone report API returns the corrected figures.
"""

from collections import Counter

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.reports.contact_records import Contribution
from chalicelib.reports.phone import NO_QUEUE

NAMESPACE = "Ventanilla"
SERVICE = "ventanilla"
# The queue dimension of contacts that reached no queue.
NO_QUEUE_DIMENSION = "none"

# Metric names of the figure counters, per agency and queue.
CALL_METRICS = {
    "inbound_calls": "InboundCalls",
    "offered": "CallsOffered",
    "answered": "CallsAnswered",
    "abandoned_in_queue": "CallsAbandonedInQueue",
    "ended_in_queue": "CallsEndedInQueue",
    "abandoned_in_ivr": "CallsAbandonedInIvr",
    "ended_in_ivr": "CallsEndedInIvr",
}
SAMPLE_METRICS = {"wait": "TimeInQueue", "handle": "HandleTime"}
# Metric names of the batch's record outcomes.
OUTCOME_METRICS = {
    "recorded": "ContactRecordsRecorded",
    "corrected": "ContactRecordsCorrected",
    "duplicate": "ContactRecordsDuplicate",
    "stale": "ContactRecordsStale",
    "agent_event": "AgentEventsSkipped",
    "parked": "ContactRecordsParked",
}


class BatchMetrics:
    """The metrics of one Kinesis batch, grouped by agency and queue until `flush`."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], Counter[str]] = {}
        self._samples: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._outcomes: Counter[str] = Counter()

    def count_outcome(self, outcome: str) -> None:
        self._outcomes[outcome] += 1

    def count_first_record(
        self, agency_id: str, counted: Contribution, samples: dict[str, int]
    ) -> None:
        """Count a contact's first counted record under its agency and queue."""
        if counted.queue_id == NO_QUEUE:
            queue = NO_QUEUE_DIMENSION
        else:
            queue = counted.queue_name or counted.queue_id
        key = (agency_id, queue)
        calls = self._calls.setdefault(key, Counter())
        for name, metric in CALL_METRICS.items():
            calls[metric] += counted.amounts.get(name, 0)
        self._samples.setdefault(key, []).extend(
            (SAMPLE_METRICS[name], seconds) for name, seconds in sorted(samples.items())
        )

    def flush(self) -> None:
        """Print one EMF document per agency and queue, then one for the batch's outcomes."""
        metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
        for key in sorted(self._calls):
            agency_id, queue = key
            counts = {metric: count for metric, count in self._calls[key].items() if count}
            samples = self._samples.get(key, [])
            if not counts and not samples:
                continue
            metrics.add_dimension(name="agency", value=agency_id)
            metrics.add_dimension(name="queue", value=queue)
            for metric, count in sorted(counts.items()):
                metrics.add_metric(name=metric, unit=MetricUnit.Count, value=count)
            for metric, seconds in samples:
                metrics.add_metric(name=metric, unit=MetricUnit.Seconds, value=seconds)
            metrics.flush_metrics()
        outcomes = {
            OUTCOME_METRICS[outcome]: count
            for outcome, count in self._outcomes.items()
            if outcome in OUTCOME_METRICS
        }
        for metric, count in sorted(outcomes.items()):
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=count)
        if outcomes:
            metrics.flush_metrics()
        self._calls.clear()
        self._samples.clear()
        self._outcomes.clear()
