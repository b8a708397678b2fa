"""One base class for every error the service-desk domain raises."""


class DeskError(Exception):
    """Base of every service-desk domain error; catch it at the web/CLI edge."""
