"""The fleet dashboard: bot polling, alerts on trouble, and the ``/dashboard`` page."""
