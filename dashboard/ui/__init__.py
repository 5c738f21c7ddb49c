"""The Panel user interface. Everything here may import Panel; nothing here writes SQL."""
