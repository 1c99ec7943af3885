"""What people read: comment text, the status page (HTML, SVG charts), text reports. Pure."""
