"""Architecture synthesis for liquid hybrids: a hierarchical genome of a sequence core
(:mod:`liquidts.search.genome`) and a multi-objective evolutionary search over it with pymoo's
NSGA-II (:class:`ArchitectureSearch`; ``pip install 'liquidts[search]'``). See docs/search.md."""

from liquidts.search.genome import (OPERATORS, Block, Genome, GenomeCore, build, count_parameters, crossover,
                                    is_valid, mutate, problems, random_genome, repair, state_bytes, step_latency,
                                    validate)
from liquidts.search.plot import plot_pareto
from liquidts.search.search import ArchitectureSearch, evaluate_genome, evaluation_seed

__all__ = ["ArchitectureSearch", "Block", "Genome", "GenomeCore", "OPERATORS", "build", "count_parameters",
           "crossover", "evaluate_genome", "evaluation_seed", "is_valid", "mutate", "plot_pareto", "problems",
           "random_genome", "repair", "state_bytes", "step_latency", "validate"]
