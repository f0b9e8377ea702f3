"""Pictures from values, pure Pillow: the certificate, its fonts, QR codes."""
