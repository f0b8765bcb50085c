import Volumes
