"""What a device is and says: device kinds and the wire contract v1.

Imports nothing else of ours; the edge agents, the hall controller and the simulators all
import it, so there is exactly one definition of every topic and message.
"""
