"""Channel adapters: platform updates in as Turns, Messages out; the output port and what the
channels share. No conversation logic lives here."""
