"""Build the Swedish spaCy pipeline Rasa loads by path: spacy.blank("sv") with the lookup
lemmatizer from spacy-lookups-data (the trained Swedish pipelines are not on PyPI).
Rasa's SpacyNLP lower-cases text first (case_sensitive: false), so "Kommunen" finds "kommun"."""
import sys

import spacy


def main(target: str) -> None:
    nlp = spacy.blank("sv")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    nlp.to_disk(target)
    size = len(nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup"))
    sample = [t.lemma_ for t in nlp("barnen går på förskolan och soptunnorna töms")]
    print(f"spaCy pipeline in {target}: {size} lemmas, e.g. {sample}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/spacy_sv")
