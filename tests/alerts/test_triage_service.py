"""The queue's grouping and order, triage decisions, and the rule quality figures they feed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from console.alerts import service
from console.alerts.models import AlertStatus, TriageDecision
from console.schools import service as schools
from console.schools.models import Phase
from console.store import transaction
from support.web import add_alert


def test_grouping_order_triage_and_quality(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        school = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        old = add_alert(session, school_id=school.id, seq=1, risk=3, minutes_ago=60 * 30)  # 30 h ago: own group
        a = add_alert(session, school_id=school.id, seq=2, risk=3, minutes_ago=120)
        b = add_alert(session, school_id=school.id, seq=3, risk=4, minutes_ago=60)
        other_pupil = add_alert(session, school_id=school.id, seq=4, risk=5, user="leo.brown", minutes_ago=5)
        other_category = add_alert(session, school_id=school.id, seq=5, risk=3, category="bullying", minutes_ago=10)
        groups = service.queue(session=session, school_ids=None, filters=service.QueueFilters())
        assert [group.ids for group in groups] == [[other_pupil.id], [a.id, b.id], [old.id], [other_category.id]]
        assert groups[1].lead is b and groups[1].count == 2
        assert [a.id] == [x.id for x in service.group_of(session=session, alert=b)]
        filtered = service.queue(session=session, school_ids=None, filters=service.QueueFilters(category="bullying"))
        assert [group.ids for group in filtered] == [[other_category.id]]
        assert service.queue(session=session, school_ids=[], filters=service.QueueFilters()) == []

        with pytest.raises(service.TriageError, match="why this is a false positive"):
            service.triage(alert=a, decision=TriageDecision.false_positive, reason=" ", actor="officer")
        service.triage(alert=a, decision=TriageDecision.false_positive, reason="quoting a film", actor="officer")
        service.triage(alert=b, decision=TriageDecision.no_concern, reason="", actor="officer")
        assert (a.status, a.triaged_by) == (AlertStatus.false_positive, "officer")
        quality = {row.rule_id: row for row in service.rule_quality(session=session)}
        assert (quality["self_harm.test"].decided, quality["self_harm.test"].false_positives) == (2, 1)
        assert quality["self_harm.test"].precision == 0.5
