"""The bottom layer: errors, the Registry type, atomic files, locks, progress, devices, process groups,
shipped resources and the weights store. Imports nothing else of vidrd_bench."""
