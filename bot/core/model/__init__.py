"""What each model and provider can do, and how a request to it is shaped (cache marks, strict tools). Pure."""
