// The backends behind engine/collective.h, for collective.cpp alone: collective_mpi.cpp (built
// with MPI) and collective_nccl.cpp (built with NCCL, which needs MPI to share its unique id);
// collective.cpp stands in for the ones a build lacks.
#pragma once

#include <memory>

#include "engine/collective.h"

namespace vdsr {

// Initialises MPI (if not yet) and returns the ranks as MPI sees them; a UserError when they
// contradict the launcher's variables in `env`.
RankInfo mpi_start(const RankInfo& env);
void mpi_finish();  // MPI_Finalize, once
std::unique_ptr<Collective> make_mpi_collective(const RankInfo& ranks);
std::unique_ptr<Collective> make_nccl_collective(const RankInfo& ranks, Device device);

}  // namespace vdsr
