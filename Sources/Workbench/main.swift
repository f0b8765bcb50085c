import Volumes
print("medseg")
