// Precompiled for the targets that use LibTorch. Kept to what the core's headers include: a
// bigger header set (torch/nn.h, torch/optim.h) made a 700 MB PCH whose loading cost more than
// it saved. Sources that include no LibTorch header skip it (see CMakeLists.txt).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
