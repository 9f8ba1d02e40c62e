using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>
/// The optimizer half of a training step leaves no tensor behind: every gradient read (TorchSharp's <c>p.grad</c> makes
/// a new native reference each time) is disposed, so the gradient buffers are freed at ZeroGrad, not whenever the GC
/// finalizes stray references (which, for a full fine-tune, would hold a second copy of all gradients).
/// </summary>
public class OptimizerLeakTests
{
    private static long LiveTensors => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Theory]
    [InlineData(ScalarType.Float32, 1)]
    [InlineData(ScalarType.BFloat16, 1)]
    [InlineData(ScalarType.BFloat16, 2)]
    public void Steps_outside_any_dispose_scope_leave_no_live_tensor(ScalarType computeDType, int microBatches)
    {
        using var model = nn.Sequential(("fc1", nn.Linear(6, 8)), ("act", nn.GELU()), ("fc2", nn.Linear(8, 3)));
        using var parameters = TrainingParameters.Prepare([("model", model)], computeDType);
        using var optimizer = new AdamW([new OptimizerGroup("model", parameters.Parameters.Select(p => (p.Name, p.Master)).ToList(), 1e-3, 1e-2)]);
        using var g = new Generator(3);
        using var x = randn([4, 6], generator: g);

        void Step()
        {
            for (int m = 0; m < microBatches; m++)
            {
                // The micro-batch (forward, backward) in its own scope, as the trainer runs it; the optimizer half outside.
                using (var scope = NewDisposeScope())
                {
                    var loss = model.call(x.to(computeDType)).to(ScalarType.Float32).square().mean();
                    DreamBoothStep.Backward(new DreamBoothLoss(x, loss, loss, loss, null, loss), parameters, microBatches);
                }
            }
            DreamBoothStep.ApplyGradients(parameters, optimizer, 1.0, 1.0);
        }

        Step(); // the optimizer's moments are created on the first step
        long before = LiveTensors;
        for (int i = 0; i < 3; i++) Step();
        LiveTensors.Should().Be(before, "a training step must not leave tensor references behind");
    }
}
