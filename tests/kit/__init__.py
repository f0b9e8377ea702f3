"""What tests share: the chat kit, the platforms' kits, processes and servers."""
