"""BPMN runtime on SpiffWorkflow. Knows nothing about service desks: handlers arrive by topic."""
