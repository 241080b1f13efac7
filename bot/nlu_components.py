"""Our own NLU components for Rasa 3.6 (named in bot/config.yml; Rasa puts its working directory,
the project root, on the import path)."""
from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.emergency_phrases import matching
from bot.language import detect

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EmergencyPhrases(GraphComponent, IntentClassifier):
    """Sets the intent to `emergency` with full confidence when the text holds an emergency phrase
    (bot/emergency_phrases.py), whatever the classifier before it chose. Goes after the classifier
    and before the FallbackClassifier, so an emergency never turns into "please rephrase"."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"intent": "emergency"}

    def __init__(self, config: dict[str, Any]) -> None:
        self.intent = config["intent"]

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> EmergencyPhrases:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or not matching(text):
                continue
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if predicted != self.intent:
                # Only the names: the text may hold personal data.
                logger.info("emergency phrase overrides the classifier's intent %s", predicted)
            top = {INTENT_NAME_KEY: self.intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self.intent]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    """Adds the entity `language` (sv or en) when it is clear which language the resident writes
    (bot/language.py, the definition the switchboard uses too). The `language` slot is filled from
    it, so the answers' English variations follow; an unclear message keeps the slot as it is."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"entity": "language"}

    def __init__(self, config: dict[str, Any]) -> None:
        self.entity = config["entity"]

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LanguageDetector:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect(text)
            if language is None:
                continue
            entity = {ENTITY_ATTRIBUTE_TYPE: self.entity, ENTITY_ATTRIBUTE_VALUE: language,
                      ENTITY_ATTRIBUTE_START: 0, ENTITY_ATTRIBUTE_END: len(text),
                      EXTRACTOR: self.__class__.__name__}
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages
