"""Tools that drive the Rasa project from the application environment (.venv).

Training, the engine's command lines, `orders classify` and the NLU evaluation. Nothing
here runs inside the engine or the action server, so nothing here may import rasa.
"""
