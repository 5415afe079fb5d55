"""Every text Ventanilla sends by itself fits one SMS segment, in every language it serves."""

import pytest

from chalicelib.journey import consent, prompts
from chalicelib.journey.references import format_reference, new_reference
from chalicelib.notify.segments import fits_one_segment, segment_count
from infra.local.seed import AGENCIES, DEMO_AGENCY

# A reference as citizens receive it, and one of the longest forms a reference takes.
REFERENCES = [format_reference(new_reference()), "999-999-999"]


def automatic_texts():
    """Yield each SMS sent without a person writing it: notices, consent replies, call texts."""
    for language in prompts.LANGUAGES:
        for reference in REFERENCES:
            yield (
                f"case_opened-{language}-{reference}",
                prompts.text("case_opened", language, reference=reference),
            )
        for kind in (consent.OPT_OUT, consent.OPT_IN):
            yield f"{kind}-{language}", consent.confirmation_text(kind, language)
        for agency in AGENCIES:
            options = agency["contact_options"]
            yield (
                f"help-{agency['agency_id']}-{language}",
                consent.confirmation_text(consent.HELP, language, contact_options=options),
            )
        yield from texts_sent_from_calls(language)


def texts_sent_from_calls(language):
    """Yield the chat link and the case summaries that send_link sends, with the demo address."""
    url = DEMO_AGENCY["chat_url"]
    yield f"chat_link-{language}", prompts.text("chat_link", language, url=url)
    for status in ("open", "waiting_citizen", "resolved", "closed"):
        word = prompts.status_word(status, language)
        for reference in REFERENCES:
            values = {"reference": reference, "status": word}
            yield (
                f"case_summary-{language}-{status}-{reference}",
                prompts.text("case_summary", language, **values),
            )
            yield (
                f"case_summary_link-{language}-{status}-{reference}",
                prompts.text("case_summary_link", language, url=url, **values),
            )


@pytest.mark.parametrize(("name", "text"), list(automatic_texts()))
def test_automatic_text_fits_one_segment(name, text):
    assert fits_one_segment(text), f"{name}: {segment_count(text)} segments: {text!r}"


@pytest.mark.parametrize("agency", AGENCIES, ids=lambda agency: agency["agency_id"])
def test_seeded_contact_options_fit_help_text(agency):
    assert len(agency["contact_options"]) <= consent.MAX_CONTACT_OPTIONS_LENGTH
