"""The detector the console runs, as the settings configure it (rules, plus the classifier unless disabled)."""

from __future__ import annotations

from console.detect import Detector
from console.settings import Settings


def build_detector(settings: Settings) -> Detector:
    if not settings.classifier_enabled:
        return Detector.load()
    from console.detect.classifier import Classifier

    return Detector.load(classifier=Classifier.load(settings.resolved_classifier_model))
