"""The Rasa project: config, training data, the custom input channel and the custom actions."""
