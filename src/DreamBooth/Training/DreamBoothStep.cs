using DreamBooth.Models.Unet;
using DreamBooth.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>Loss settings of a DreamBooth step.</summary>
/// <param name="PriorLossWeight">λ in loss = mse(instance) + λ·mse(prior) (<c>--prior-loss-weight</c>, 1.0).</param>
/// <param name="SnrGamma">Min-SNR weighting γ of the instance loss (<c>--snr-gamma</c>); null = plain MSE.</param>
/// <param name="OffsetNoise">Adds 0.1·N(0,1) per sample and channel to the noise (<c>--offset-noise</c>).</param>
public sealed record DreamBoothLossOptions(double PriorLossWeight = 1.0, double? SnrGamma = null, bool OffsetNoise = false);

/// <summary>The tensors of one DreamBooth forward pass (owned by the caller's dispose scope).</summary>
/// <param name="NoisyLatents">z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε, float32.</param>
/// <param name="ModelPred">The UNet's prediction, float32.</param>
/// <param name="Target">ε or v, float32.</param>
/// <param name="InstanceLoss">MSE over the instance half (Min-SNR weighted when asked), 0-d float32.</param>
/// <param name="PriorLoss">MSE over the class half; null without prior preservation.</param>
/// <param name="Loss">InstanceLoss + λ·PriorLoss, the tensor to back-propagate.</param>
public sealed record DreamBoothLoss(Tensor NoisyLatents, Tensor ModelPred, Tensor Target, Tensor InstanceLoss, Tensor? PriorLoss, Tensor Loss);

/// <summary>
/// One DreamBooth training step, as diffusers' train_dreambooth.py does it:
/// <code>
/// batch  = cat([instance latents, class latents])            (class half only with prior preservation)
/// ε ~ N(0, I) [+ 0.1·N(0, I) per (sample, channel)]           t ~ U{0, …, T−1} per sample
/// z_t    = DDPM add_noise(z₀, ε, t)
/// pred   = UNet(z_t, t, text embeddings)
/// target = ε (epsilon) or v = √ᾱ·ε − √(1−ᾱ)·z₀ (v_prediction)
/// loss   = mse(pred_inst, target_inst) + λ·mse(pred_prior, target_prior)      (float32; each a mean over its half)
/// backward → clip_grad_norm (total L2) → AdamW → LR schedule → zero grad
/// </code>
/// With <c>--snr-gamma</c> the instance MSE is weighted per sample by min(SNR(t), γ)/SNR(t) (+1 for v-prediction),
/// Min-SNR (Hang et al. 2023) as diffusers' compute_snr. The weights come from the instance half's timesteps (diffusers
/// passes the whole batch's timesteps, which does not broadcast against the instance half once batch size > 1).
/// </summary>
public static class DreamBoothStep
{
    /// <summary>
    /// Draws the step's noise and timesteps from <paramref name="generator"/>, in diffusers' order: ε (shape of the latents),
    /// then the offset noise [B, C, 1, 1] if asked, then the timesteps.
    /// </summary>
    public static (Tensor Noise, Tensor Timesteps) SampleNoise(Tensor latents, int numTrainTimesteps, Generator generator, bool offsetNoise)
    {
        using var scope = NewDisposeScope();
        var noise = randn(latents.shape, latents.dtype, latents.device, generator: generator);
        if (offsetNoise)
            noise = noise + 0.1 * randn([latents.shape[0], latents.shape[1], 1, 1], latents.dtype, latents.device, generator: generator);
        var timesteps = randint(0, numTrainTimesteps, [latents.shape[0]], ScalarType.Int64, latents.device, generator: generator);
        return (noise.MoveToOuterDisposeScope(), timesteps.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The forward pass and loss for given <paramref name="noise"/> and <paramref name="timesteps"/>.
    /// </summary>
    /// <param name="unet">The UNet (in train mode), in <paramref name="computeDType"/>.</param>
    /// <param name="scheduler">The training noise scheduler (DDPM from the model's scheduler config): ᾱ and prediction type.</param>
    /// <param name="latents">Clean latents z₀ [B, C, h, w], float32, the first <paramref name="instanceCount"/> rows instance examples, the rest class examples.</param>
    /// <param name="noise">ε, like <paramref name="latents"/>.</param>
    /// <param name="timesteps">Integer timesteps [B].</param>
    /// <param name="encoderHiddenStates">Text embeddings [B, S, D], rows matching <paramref name="latents"/>.</param>
    /// <param name="instanceCount">Rows that are instance examples; B − instanceCount class rows form the prior half (0 rows = no prior preservation).</param>
    /// <param name="options">Prior weight and Min-SNR γ.</param>
    /// <param name="computeDType">The UNet's dtype (bf16 for mixed precision); inputs are cast to it and the prediction back to float32.</param>
    public static DreamBoothLoss Compute(UNet2DConditionModel unet, Scheduler scheduler, Tensor latents, Tensor noise, Tensor timesteps,
        Tensor encoderHiddenStates, int instanceCount, DreamBoothLossOptions options, ScalarType computeDType = ScalarType.Float32)
    {
        long batch = latents.shape[0];
        if (instanceCount < 1 || instanceCount > batch)
            throw new ArgumentOutOfRangeException(nameof(instanceCount), $"instance rows must be in 1..{batch}, got {instanceCount}");
        if (scheduler.PredictionType == PredictionType.Sample)
            throw new DreamBoothException($"{scheduler.Config.Source}: prediction_type 'sample' is not supported for training (expected epsilon or v_prediction)");

        var noisy = scheduler.AddNoise(latents, noise, timesteps);
        var target = scheduler.GetTrainingTarget(latents, noise, timesteps);
        var pred = unet.forward(noisy.to(computeDType), timesteps, encoderHiddenStates.to(computeDType)).to(ScalarType.Float32);

        var predInstance = pred.narrow(0, 0, instanceCount);
        var targetInstance = target.narrow(0, 0, instanceCount);
        Tensor instanceLoss;
        if (options.SnrGamma is not double gamma)
        {
            instanceLoss = nn.functional.mse_loss(predInstance, targetInstance);
        }
        else
        {
            var snr = scheduler.ComputeSnr(timesteps.narrow(0, 0, instanceCount));
            var weights = snr.clamp(max: gamma) / snr;
            if (scheduler.PredictionType == PredictionType.VPrediction) weights = weights + 1; // velocity: floor the weight at 1
            var perSample = nn.functional.mse_loss(predInstance, targetInstance, nn.Reduction.None).flatten(1).mean([1]);
            instanceLoss = (perSample * weights).mean();
        }

        Tensor? priorLoss = null;
        var loss = instanceLoss;
        if (instanceCount < batch)
        {
            long priorRows = batch - instanceCount;
            priorLoss = nn.functional.mse_loss(pred.narrow(0, instanceCount, priorRows), target.narrow(0, instanceCount, priorRows));
            loss = instanceLoss + options.PriorLossWeight * priorLoss;
        }
        return new DreamBoothLoss(noisy, pred, target, instanceLoss, priorLoss, loss);
    }

    /// <summary>
    /// The backward pass of one micro-batch: back-propagates <see cref="DreamBoothLoss.Loss"/> / <paramref name="gradientAccumulationSteps"/>
    /// and, for mixed precision, adds the working gradients into the float32 master gradients
    /// (<see cref="TrainingParameters.AccumulateGradients"/>). The trainer and <c>dreambooth bench</c> both run a step as
    /// <see cref="SampleNoise"/> → <see cref="Compute"/> → <see cref="Backward"/> (per micro-batch) → <see cref="ApplyGradients"/>.
    /// </summary>
    public static void Backward(DreamBoothLoss result, TrainingParameters parameters, int gradientAccumulationSteps = 1)
    {
        using (var scope = NewDisposeScope())
            (gradientAccumulationSteps == 1 ? result.Loss : result.Loss / gradientAccumulationSteps).backward();
        parameters.AccumulateGradients();
    }

    /// <summary>
    /// The optimizer half of a step, after the backward passes of its micro-batches (each followed by
    /// <see cref="TrainingParameters.AccumulateGradients"/>): clip the total gradient norm to <paramref name="maxGradNorm"/>,
    /// AdamW at the scheduled learning rate, copy masters into the working modules, zero the gradients.
    /// </summary>
    /// <returns>The total gradient norm before clipping. When it is NaN or infinite, nothing is updated (the gradients are dropped).</returns>
    public static double ApplyGradients(TrainingParameters parameters, AdamW optimizer, double maxGradNorm, double lrFactor)
    {
        double norm = parameters.ClipGradNorm(maxGradNorm);
        if (double.IsFinite(norm))
        {
            optimizer.Step(lrFactor);
            parameters.CopyMastersToWorking();
        }
        parameters.ZeroGrad();
        return norm;
    }
}
