"""Green-land ratings of administrative units and signed, QR-coded certificates of them."""
