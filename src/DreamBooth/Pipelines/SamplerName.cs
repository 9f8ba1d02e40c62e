using DreamBooth.Schedulers;

namespace DreamBooth.Pipelines;

/// <summary>
/// The sampler names AUTOMATIC1111 writes in its "parameters" metadata (and other tools read back), for a configured
/// scheduler: DDIM, PLMS (diffusers' PNDM), Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DPM++ 2M SDE, DDPM.
/// Configurations A1111 has no name for get the diffusers class name.
/// </summary>
public static class SamplerName
{
    /// <summary>The A1111 name of <paramref name="scheduler"/>'s class and configuration.</summary>
    public static string Of(Scheduler scheduler)
    {
        var c = scheduler.Config;
        string karras = c.UseKarrasSigmas == true ? " Karras" : "";
        return scheduler.ClassName switch
        {
            nameof(DDIMScheduler) => "DDIM",
            nameof(PNDMScheduler) => "PLMS",
            nameof(DDPMScheduler) => "DDPM",
            nameof(EulerDiscreteScheduler) => "Euler" + karras,
            nameof(EulerAncestralDiscreteScheduler) => "Euler a",
            nameof(DPMSolverMultistepScheduler) => (c.AlgorithmType, c.SolverOrder) switch
            {
                ("dpmsolver++", 2) => "DPM++ 2M" + karras,
                ("sde-dpmsolver++", 2) => "DPM++ 2M SDE" + karras,
                ("dpmsolver++", 3) => "DPM++ 3M" + karras,
                ("sde-dpmsolver++", 3) => "DPM++ 3M SDE" + karras,
                _ => $"{scheduler.ClassName} ({c.AlgorithmType}, order {c.SolverOrder})" + karras,
            },
            _ => scheduler.ClassName,
        };
    }
}
