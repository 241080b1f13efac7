"""Our own NLU components for Rasa 3.6 (named in bot/config.yml; Rasa puts its working directory,
the project root, on the import path)."""
from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import numpy as np

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.emergency_phrases import matching
from bot.language import detect
from bot.nlu_data import folded

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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class UnknownWords(DenseFeaturizer, GraphComponent):
    """How much of the message is words the assistant has never seen: the share of its words that
    occur in no training example, and whether there is one at all. "När har frisören öppet?" and
    "när har ni öppet?" share every known word; only the unknown "frisören" tells the question about
    something else from the follow-up. Word counts cannot see an absent word, this feature can.

    In training each example is measured against the other examples (a word found only in the
    example itself counts as unknown), so the classifier learns from the data how much an unknown
    word weighs, as it will meet them in residents' messages."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config()}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass  # nothing to set

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource,
                 counts: dict[str, int] | None = None) -> None:
        super().__init__(name, config)
        self._model_storage, self._resource = model_storage, resource
        self.counts = counts or {}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> UnknownWords:
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> UnknownWords:
        with model_storage.read_from(resource) as folder:
            counts = json.loads((folder / "counts.json").read_text(encoding="utf-8"))
        return cls(config, execution_context.node_name, model_storage, resource, counts)

    @staticmethod
    def _words(message: Message) -> set[str]:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        return {w for w in (folded(t.lemma or t.text) for t in tokens) if w.isalpha() and len(w) > 1}

    def train(self, training_data: TrainingData) -> Resource:
        counts: Counter[str] = Counter()
        for example in training_data.training_examples:
            if example.get(TEXT):
                counts.update(self._words(example))
        self.counts = dict(counts)
        with self._model_storage.write_to(self._resource) as folder:
            (folder / "counts.json").write_text(json.dumps(self.counts), encoding="utf-8")
        return self._resource

    def _featurize(self, message: Message, seen_here: int) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        if not message.get(TEXT) or not tokens:
            return
        words = self._words(message)
        unknown = sum(self.counts.get(w, 0) <= seen_here for w in words)
        share = unknown / len(words) if words else 0.0
        sentence = np.array([[share, 1.0 if unknown else 0.0]])
        self.add_features_to_message(np.zeros((len(tokens), 2)), sentence, TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._featurize(example, seen_here=1)  # the example's own words are in the counts once
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._featurize(message, seen_here=0)
        return messages

